"""`gen-iac export`: read the legacy web services of a live workspace into a snapshot.

Only this package talks to Azure, and only it needs the `export` extra (azureml-core,
azure-identity); both are imported inside functions so that the generator starts without them.
"""
