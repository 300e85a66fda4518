"""The load part: Locust user journeys, the request recorder and the headless runner.

`settings` and `runner` never import Locust (importing it monkey-patches the whole process with
gevent); `journey`, `recorder` and `locustfile` only run inside Locust processes.
"""
