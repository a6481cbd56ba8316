"""Duo Chat's ReAct agent, run by the router: which tools to offer, the request's checks, the
model call and the parser that turns the model's reply into the agent's events."""
