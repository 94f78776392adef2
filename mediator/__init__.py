"""mediator: keeps a professional-services firm's CRM, PSA, billing and ERP in step.

See DESIGN.md for the architecture; the public names of each layer live in its subpackage
(`mediator.actors`, `mediator.policies`, `mediator.codecs`, `mediator.journal`, ...).
"""

from mediator.clock import Clock, SystemClock
from mediator.errors import MediatorError

__all__ = ["Clock", "MediatorError", "SystemClock"]
__version__ = "0.1.0"
