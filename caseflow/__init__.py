"""The command line of the service: `caseflow serve`, `migrate`, `keys`, `check-policies`.

It sits above every other package (it starts the API), so nothing imports it.
"""
