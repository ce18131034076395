"""The worker loop: :class:`WorkerRuntime`.

claim → run the handler (extending the lease in a background thread while it
runs) → fulfil with its result, or fail with its exception → claim again;
back off (honouring ``Retry-After``, with jitter) while there is nothing to do;
stop cleanly on SIGTERM / SIGINT or a ``stop_event``.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, Optional, Tuple

from .client import CapabilitiesArg, IntentClient
from .errors import (
    IntentBusAuthError,
    IntentBusError,
    IntentBusForbiddenError,
    IntentBusLeaseLostError,
    IntentBusNotFoundError,
    IntentBusPayloadTooLargeError,
    IntentBusValidationError,
)
from .models import Job

__all__ = ["WorkerRuntime", "Handler"]

log = logging.getLogger("intent_bus.worker")

Handler = Callable[[Job], Any]

_RESULT_TYPES = ("json", "text")
_ENVELOPE_KEYS = frozenset({"result", "result_type"})
_WAIT_SLICE = 0.1  # seconds: how often a sleeping loop looks at the stop flags


def _outcome(value: Any) -> Tuple[str, Any, Optional[str]]:
    """What a handler's return value means: ``("fulfill", result, result_type)``
    or ``("fail", error, None)``."""
    if value is None or value is True:
        return "fulfill", None, None
    if value is False:
        return "fail", "handler returned False", None
    if (
        isinstance(value, dict)
        and "result_type" in value
        and set(value) <= _ENVELOPE_KEYS
        and value["result_type"] in _RESULT_TYPES
    ):
        return "fulfill", value.get("result"), value["result_type"]
    if isinstance(value, str):
        return "fulfill", value, "text"
    return "fulfill", value, "json"


class _LeaseKeeper:
    """Extends a job's lease from a background thread while its handler runs.

    The first extension happens half a ``claim_timeout`` after the claim; each
    one asks for ``max(10, claim_timeout)`` seconds (the protocol's minimum is
    10) and the next comes half of that later. A refused extension (404) marks
    ``job.lease_lost`` and stops; a transient error is retried sooner.
    """

    def __init__(self, client: IntentClient, job: Job) -> None:
        self.client = client
        self.job = job
        self.extensions = 0
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"intent-bus-lease-{job.id[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.client.timeout + 1.0)

    def _run(self) -> None:
        job = self.job
        timeout = max(1.0, float(job.claim_timeout or 60.0))
        extend_by = min(3600.0, max(10.0, timeout))
        lease_end = job.claimed_at + timeout
        next_at = job.claimed_at + timeout / 2.0
        while not self._done.wait(max(0.0, next_at - time.monotonic())):
            sent_at = time.monotonic()
            try:
                self.client.extend(job.id, job.claim_token, seconds=extend_by)
            except IntentBusLeaseLostError as exc:
                job.lease_lost = True
                log.warning("intent %s: lease lost while the handler runs (%s)", job.id, exc)
                return
            except IntentBusError as exc:
                if isinstance(exc, (IntentBusValidationError, IntentBusAuthError, IntentBusForbiddenError)):
                    log.error("intent %s: cannot extend the lease: %s", job.id, exc)
                    return
                remaining = lease_end - time.monotonic()
                pause = min(max(0.5, remaining / 3.0), 5.0) if remaining > 0 else 1.0
                log.warning("intent %s: lease extension failed (%s); again in %.1fs", job.id, exc, pause)
                next_at = time.monotonic() + pause
                continue
            self.extensions += 1
            log.debug("intent %s: lease extended by %ss", job.id, extend_by)
            lease_end = sent_at + extend_by
            next_at = sent_at + extend_by / 2.0


class WorkerRuntime:
    """Runs a handler for every job claimed from the bus.

    Args:
        client: the :class:`IntentClient` to use (it may be shared with the handler).
        max_idle_backoff: the longest pause between two empty claims (seconds;
            never shorter than the server's ``Retry-After``).

    ``handled``, ``fulfilled``, ``failed`` and ``lease_lost`` count the jobs
    of the last :meth:`listen`.
    """

    def __init__(self, client: IntentClient, *, max_idle_backoff: float = 5.0) -> None:
        self.client = client
        self.max_idle_backoff = float(max_idle_backoff)
        self.handled = 0
        self.fulfilled = 0
        self.failed = 0
        self.lease_lost = 0
        self._stop: Optional[threading.Event] = None
        self._signalled = False

    # ------------------------------------------------------------- stopping

    def stop(self) -> None:
        """Ask a running :meth:`listen` to return after the current job."""
        self._signalled = True
        if self._stop is not None:
            self._stop.set()

    def _stopping(self) -> bool:
        if self._signalled and self._stop is not None and not self._stop.is_set():
            self._stop.set()
        return self._signalled or (self._stop is not None and self._stop.is_set())

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self._stopping():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            assert self._stop is not None
            self._stop.wait(min(_WAIT_SLICE, left))

    def _install_signal_handlers(self) -> Dict[int, Any]:
        """SIGTERM/SIGINT → stop after the current job (main thread only). A
        second SIGINT raises KeyboardInterrupt. The handler only sets a flag:
        taking a lock inside a signal handler could deadlock."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            if self._signalled and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._signalled = True

        previous: Dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, on_signal)
            except (ValueError, OSError):  # not the main interpreter, or unsupported
                pass
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: Dict[int, Any]) -> None:
        for sig, handler in previous.items():
            try:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass

    # ---------------------------------------------------------------- loop

    def listen(
        self,
        goal: Optional[str],
        handler: Handler,
        namespace: str = "default",
        worker_id: Optional[str] = None,
        capabilities: CapabilitiesArg = None,
        poll_interval: float = 1.0,
        stop_event: Optional[threading.Event] = None,
        wait: Optional[float] = None,
    ) -> int:
        """Claim and handle jobs until stopped; returns how many were handled.

        ``handler(job)`` gets a :class:`Job`; its return value decides:

        * ``None`` or ``True``: fulfil without a result;
        * ``False``: fail the attempt ("handler returned False");
        * ``{"result": ..., "result_type": "text" | "json"}``: fulfil with that;
        * a ``str``: fulfil with a text result;
        * any other JSON value (dict, list, number): fulfil with a JSON result;
        * an exception: fail the attempt with ``"ExceptionType: message"``
          (cut to 2000 bytes); the bus retries it or dead-letters it.

        While the handler runs longer than half the lease, the lease is
        extended from a background thread. With nothing to claim the loop
        sleeps ``poll_interval`` seconds, growing up to ``max_idle_backoff``,
        never less than the bus's ``Retry-After``, plus up to 25% jitter;
        rate limits and 503s are waited out the same way. Authentication,
        permission and validation errors on claim are raised.

        Stops when ``stop_event`` is set, when :meth:`stop` is called, or (in
        the main thread) on SIGTERM/SIGINT: no new claim is made, the current
        job is finished and reported, then ``listen`` returns. ``wait`` is
        passed to :meth:`IntentClient.claim` (long polling, when supported).
        """
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._signalled = False
        self.handled = self.fulfilled = self.failed = self.lease_lost = 0
        previous = self._install_signal_handlers()
        idle = 0
        errors = 0
        try:
            while not self._stopping():
                started = time.monotonic()
                try:
                    job, retry_after = self.client._claim(
                        goal, namespace, worker_id, capabilities, wait
                    )
                except (IntentBusAuthError, IntentBusForbiddenError, IntentBusValidationError, IntentBusNotFoundError):
                    raise
                except IntentBusError as exc:
                    errors += 1
                    pause = exc.retry_after if exc.retry_after is not None else min(
                        self.max_idle_backoff * 2, max(poll_interval, 0.5) * (2 ** min(errors - 1, 6))
                    )
                    pause *= 1.0 + random.random() * 0.25
                    log.warning("claim failed (%s); retrying in %.1fs", exc, pause)
                    self._sleep(pause)
                    continue
                errors = 0
                if job is None:
                    if wait and time.monotonic() - started >= wait / 2.0:
                        continue  # the bus held the request (long poll): ask again at once
                    idle += 1
                    backoff = min(max(self.max_idle_backoff, poll_interval), poll_interval * (1.5 ** min(idle - 1, 20)))
                    pause = max(retry_after or 0.0, backoff) * (1.0 + random.random() * 0.25)
                    self._sleep(pause)
                    continue
                idle = 0
                self._handle(job, handler)
            return self.handled
        finally:
            self._restore_signal_handlers(previous)

    def _handle(self, job: Job, handler: Handler) -> None:
        """Run one job to its end: handler, lease keeping, fulfil or fail."""
        self.handled += 1
        keeper = _LeaseKeeper(self.client, job)
        keeper.start()
        try:
            value = handler(job)
        except Exception as exc:  # the job failed; KeyboardInterrupt & co. go through
            keeper.stop()
            log.exception("intent %s: handler raised", job.id)
            self._fail(job, f"{type(exc).__name__}: {exc}")
            return
        except BaseException:
            keeper.stop()
            self._fail(job, "worker interrupted")
            raise
        finally:
            keeper.stop()
        action, result, result_type = _outcome(value)
        if action == "fail":
            self._fail(job, str(result))
            return
        if job.lease_lost:
            self.lease_lost += 1
            log.warning("intent %s: lease lost, result not reported", job.id)
            return
        try:
            self.client.fulfill(job.id, job.claim_token, result, result_type)
            self.fulfilled += 1
        except IntentBusLeaseLostError:
            self.lease_lost += 1
            log.warning("intent %s: lease lost before fulfil; another worker may run it", job.id)
        except (IntentBusValidationError, IntentBusPayloadTooLargeError) as exc:
            log.error("intent %s: the bus refused the result: %s", job.id, exc)
            self._fail(job, f"the bus refused the result: {exc}")
        except IntentBusError as exc:
            log.error("intent %s: fulfil failed: %s (the job will be redelivered)", job.id, exc)

    def _fail(self, job: Job, error: str) -> None:
        if job.lease_lost:
            self.lease_lost += 1
            return
        try:
            self.client.fail(job.id, job.claim_token, error)
            self.failed += 1
        except IntentBusLeaseLostError:
            self.lease_lost += 1
            log.warning("intent %s: lease lost before fail", job.id)
        except IntentBusError as exc:
            log.error("intent %s: fail could not be reported: %s", job.id, exc)
