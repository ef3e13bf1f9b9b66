"""The HTTP layer every service of this project shares, whatever it serves.

One ASGI guard in front of the app (request ids, budget-aware admission, body limits, the
request timeout, drain, HTTP metrics), the Open Inference Protocol's request decoding, the
error replies and their OpenAPI description, and a uvicorn runner that drains on SIGTERM
without cutting a request off.
"""
