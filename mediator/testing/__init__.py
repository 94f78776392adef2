"""What tests and host services reuse: the fake clock and other fakes at the seams."""

from mediator.testing.clock import FakeClock, drive

__all__ = ["FakeClock", "drive"]
