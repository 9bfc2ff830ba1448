"""The few error classes byoc raises, named by who has to act: the user or the framework."""


class ByocError(Exception):
    """Base class for errors that byoc reports as a sentence, without a traceback."""


class UserError(ByocError):
    """Bad input from the user: a hyperparameter, a data channel, a flag, a request body.

    The message says what was wrong and what is accepted, so it can go straight into
    /opt/ml/output/failure or a 4xx response.
    """


class FrameworkError(ByocError):
    """Something byoc itself could not do; the message says what to check."""
