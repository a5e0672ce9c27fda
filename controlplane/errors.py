"""The ECS API's error type, shared by the handlers and the request validator."""


class ApiError(Exception):
    """An ECS error answer: code (the text after '#' in __type), message, HTTP status."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def client_error(msg):
    return ApiError("ClientException", msg)


def invalid_param(msg):
    return ApiError("InvalidParameterException", msg)
