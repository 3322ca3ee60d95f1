"""`switchboard`: the operator's command line, talking to the gateway over HTTP."""
