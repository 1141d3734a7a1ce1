import importlib.util
import inspect
import os

here = os.path.dirname(os.path.realpath(__file__))

script_location = os.path.join(here, "score_sentiment.py")
driver_module_spec = importlib.util.spec_from_file_location("service_driver", script_location)
driver_module = importlib.util.module_from_spec(driver_module_spec)
driver_module_spec.loader.exec_module(driver_module)


def init():
    global run_input_name, run_takes_headers
    names = list(inspect.signature(driver_module.run).parameters)
    run_takes_headers = "request_headers" in names
    run_input_name = next(name for name in names if name != "request_headers")
    driver_module.init()


def run(http_body, request_headers):
    arguments = {run_input_name: http_body}
    if run_takes_headers:
        arguments["request_headers"] = request_headers
    return driver_module.run(**arguments)
