"""What tests and host services reuse: the fake clock and other fakes at the seams."""

from mediator.testing.clock import FakeClock

__all__ = ["FakeClock"]
