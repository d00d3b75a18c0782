"""The Ray backend: whole jobs (one video each) spread over long-lived actors on a Ray cluster.

The engine layer knows nothing about ingest, so this module is generic: the caller gives a
module-level ``setup(*setup_args) -> context`` (run once per actor, e.g. a warm Engine on that
node) and ``work(context, item) -> result`` (one item). ``RayJobPool.imap_unordered`` yields
``(item, result)`` or ``(item, ReelscopeError)`` for every item exactly once.

Ray is an optional extra: ``import ray`` happens inside functions only, and every entry point
raises ``BackendUnavailable`` with the pip fix when it is missing. Ray's exceptions are
translated here: actor deaths become ``WorkerCrashed``, deadlines ``TaskTimedOut``, a
ReelscopeError raised by ``work`` comes back as itself.

Importing ``setup``/``work`` on the actors: functions are shipped by reference (module and
name), so each node must be able to import their module. The installed ``reelscope`` package is
on every node's venv; for code outside it (tests) pass ``connect(import_paths=[...])``, which puts
those folders on the actors' PYTHONPATH through Ray's runtime_env. On a local cluster the driver's
folders are the workers' folders, so that is all it takes; on a real cluster they must exist on
every node. (Ray also adds the driver's current directory to workers' sys.path, but relying on
that breaks as soon as the driver runs from another folder.)
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pickle
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reelscope.core.errors import BackendUnavailable, ReelscopeError, TaskTimedOut, WorkerCrashed

log = logging.getLogger(__name__)

T = TypeVar("T")

RAY_FIX = "pip install 'reelscope[ray]'"
_CALLS_PER_ACTOR = 2  # one running plus one waiting, so the next item starts without a driver round trip
_PROBE_TIMEOUT_S = 5.0  # ray.init retries a dead address for minutes; a TCP probe says so at once
_GPU_SHARE_STEP = 1e-4  # Ray keeps fractional resources to four decimals


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailable("Ray is not installed", fix=RAY_FIX) from exc
    return ray


def ray_installed() -> bool:
    try:
        _import_ray()
    except BackendUnavailable:
        return False
    return True


@dataclass(frozen=True)
class ClusterInfo:
    address: str  # what ray.init connected to
    nodes: int  # alive nodes
    cpus: float  # cluster total
    gpus: float


@dataclass(frozen=True)
class RayPlacement:
    actors: int
    num_cpus: float  # per actor
    num_gpus: float  # per actor (0 on a cluster without GPUs)


def _probe(address: str) -> None:
    """Fail fast on a "host:port" or "ray://host:port" nobody listens on."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # not host:port ("auto", a bare host): let Ray judge it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise BackendUnavailable(
            f"cannot reach a Ray cluster at {address}: {exc}",
            fix="start one with `ray start --head` there, or fix --address / REELSCOPE_RAY_ADDRESS",
        ) from exc


def _cluster_info(ray: Any, address: str) -> ClusterInfo:
    resources = ray.cluster_resources()
    return ClusterInfo(
        address=address,
        nodes=sum(1 for node in ray.nodes() if node.get("Alive")),
        cpus=float(resources.get("CPU", 0.0)),
        gpus=float(resources.get("GPU", 0.0)),
    )


def _current_address(ray: Any) -> str:
    with contextlib.suppress(Exception):
        return str(ray.get_runtime_context().gcs_address)
    return "unknown"


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    import_paths: Sequence[str | os.PathLike[str]] = (),
) -> ClusterInfo:
    """Start a local Ray instance (``address`` None; ``num_cpus``/``num_gpus`` size it, a GPU count
    on a machine without GPUs makes a logical resource) or join ``host:port``, ``ray://host:port``
    or ``auto``. One cluster per process: connecting elsewhere needs ``shutdown()`` first."""
    ray = _import_ray()
    if ray.is_initialized():
        current = _current_address(ray)
        if address not in (None, "auto", current):
            raise BackendUnavailable(
                f"this process is already connected to Ray at {current}, not {address}",
                fix="call shutdown() before connecting to another cluster",
            )
        return _cluster_info(ray, current)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
    if import_paths:
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(os.fspath(p) for p in import_paths)}}
    if address is None:
        options.update(num_cpus=num_cpus, num_gpus=num_gpus)
    else:
        _probe(address)
        options["address"] = address
    try:
        context = ray.init(**options)
    except (ConnectionError, TimeoutError, RuntimeError) as exc:
        raise BackendUnavailable(
            f"could not connect to Ray at {address or 'a new local instance'}: {exc}",
            fix="check that the cluster is up (`ray status`) and that --address points at its head",
        ) from exc
    info = getattr(context, "address_info", None) or {}
    return _cluster_info(ray, str(info.get("address") or address or _current_address(ray)))


def shutdown() -> None:
    _import_ray().shutdown()


def placement(
    cluster: ClusterInfo, cpus_per_actor: float, gpus_per_actor: float | None = None, max_actors: int | None = None
) -> RayPlacement:
    """How many job actors fit the cluster and what each reserves. ``gpus_per_actor`` None shares
    the cluster's GPUs evenly (at most one each), so GPU analyzers inside an actor see the device
    Ray gives it through CUDA_VISIBLE_DEVICES; an explicit GPU share also caps the actor count."""
    if cpus_per_actor <= 0:
        raise ValueError("cpus_per_actor must be > 0")
    if gpus_per_actor is not None and gpus_per_actor < 0:
        raise ValueError("gpus_per_actor must be >= 0")
    actors = max(1, math.floor(cluster.cpus / cpus_per_actor))
    if gpus_per_actor:
        actors = min(actors, max(1, math.floor(cluster.gpus / gpus_per_actor)))
    if max_actors is not None:
        actors = max(1, min(actors, max_actors))
    if gpus_per_actor is None:
        share = min(1.0, cluster.gpus / actors) if cluster.gpus > 0 else 0.0
        gpus_per_actor = math.floor(share / _GPU_SHARE_STEP) * _GPU_SHARE_STEP  # never over-subscribe by rounding
    return RayPlacement(actors=actors, num_cpus=float(cpus_per_actor), num_gpus=round(gpus_per_actor, 4))


class _JobActor:
    """Runs inside a Ray worker process: one warm context, one item at a time."""

    def __init__(self, functions: bytes) -> None:
        self._context: Any = None
        self._setup_error: BaseException | None = None
        # the functions come pickled, so a module this node cannot import is a clear error on the
        # items rather than an actor that dies in Ray's own argument loading, again and again
        try:
            setup, setup_args, self._work = pickle.loads(functions)
        except Exception as exc:
            self._setup_error = BackendUnavailable(
                f"a Ray worker cannot load the job's functions: {type(exc).__name__}: {exc}",
                fix="install the package that defines them on every node, or pass connect(import_paths=[...])",
            )
            return
        try:
            self._context = setup(*setup_args)
        except Exception as exc:  # kept, so it reaches the driver as itself rather than a dead actor
            self._setup_error = exc

    def ready(self) -> tuple[str, int]:
        if self._setup_error is not None:
            raise self._setup_error
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    def run(self, item: Any) -> Any:
        if self._setup_error is not None:
            raise self._setup_error
        return self._work(self._context, item)


def _translate(ray: Any, exc: BaseException, what: str) -> ReelscopeError:
    """Ray's exception for ``what`` as the matching ReelscopeError (chained to the original)."""
    errors = ray.exceptions
    error: ReelscopeError
    # first: Ray's RayTaskError is re-classed as a subclass of the cause's type too, so a wrapped
    # VideoPrivate passes isinstance(exc, ReelscopeError); the caller wants the original
    if isinstance(exc, errors.RayTaskError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, ReelscopeError):
            return cause
        name = type(cause).__name__ if cause is not None else "error"
        error = WorkerCrashed(f"{what} raised {name}: {cause}", fix="see the traceback in the chained error")
    elif isinstance(exc, ReelscopeError):
        return exc
    elif isinstance(exc, errors.GetTimeoutError):
        error = TaskTimedOut(f"{what} did not answer in time", fix="raise the task timeout")
    elif isinstance(exc, errors.RayActorError | errors.WorkerCrashedError | errors.NodeDiedError):
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        error = WorkerCrashed(
            f"the Ray actor died while running {what} ({first_line})",
            fix="a native crash or running out of memory are the usual causes; see the Ray logs of that node",
        )
    else:
        error = WorkerCrashed(f"{what} failed in Ray: {type(exc).__name__}: {exc}", fix="see the Ray logs")
    error.__cause__ = exc
    return error


@dataclass
class _Call:
    item: Any
    ref: Any


@dataclass
class _Actor:
    slot: int
    handle: Any
    ready_ref: Any  # None once ready
    created_at: float
    node_id: str | None = None
    pid: int | None = None
    calls: deque[_Call] = field(default_factory=deque)
    head_started_at: float = 0.0  # when the driver saw the head call become the running one

    def describe(self, item: Any) -> str:
        return f"item {repr(item)[:200]} (actor pid {self.pid} on node {(self.node_id or '?')[:12]})"


class RayJobPool:
    """``placement.actors`` actors, each running ``setup`` once and then ``work`` per item.

    A crash fails only the item that was running (``WorkerCrashed``) and the actor is replaced; an
    item past ``task_timeout_s`` (counted from when the driver sees it start) gets ``TaskTimedOut``
    and its actor is killed and replaced. Items queued behind it go back in line: an actor runs one
    call at a time, so they never started. Ray's own retries are off (``max_task_retries=0``): a
    video that crashes a worker is never run again silently.

    ``setup`` raising, or not finishing within ``setup_timeout_s``, gives up that actor's slot (it
    would fail the same way again) and the other actors carry on; once every slot is given up,
    every remaining item gets that error. An actor that dies before its setup is done is replaced
    up to ``max_restarts`` times in a row.
    """

    def __init__(
        self,
        setup: Callable[..., Any],
        setup_args: tuple,
        work: Callable[[Any, Any], Any],
        placement: RayPlacement,
        *,
        task_timeout_s: float | None = None,
        max_restarts: int = 3,
        setup_timeout_s: float | None = 600.0,
    ) -> None:
        self._ray = ray = _import_ray()
        if not ray.is_initialized():
            raise BackendUnavailable("Ray is not connected", fix="call connect() before creating a RayJobPool")
        self._functions = ray.cloudpickle.dumps((setup, setup_args, work))
        self.placement, self.task_timeout_s, self.setup_timeout_s = placement, task_timeout_s, setup_timeout_s
        self.max_restarts = max_restarts
        self._actor_class = ray.remote(_JobActor).options(
            num_cpus=placement.num_cpus,
            num_gpus=placement.num_gpus,
            max_restarts=0,  # we replace actors ourselves, knowing which item was running
            max_task_retries=0,
            scheduling_strategy="SPREAD",  # whole-job actors: use every node's CPUs and GPUs
        )
        self._actors: dict[int, _Actor] = {}
        self._start_failures: dict[int, int] = {}
        self._given_up: dict[int, ReelscopeError] = {}
        self._waiting: deque[Any] = deque()  # items handed back by a retired actor, first in line
        self._out: list[tuple[Any, Any]] = []  # finished, not yet yielded
        self._ensure_actors()

    # -- public --------------------------------------------------------------------------------
    def node_of_actors(self) -> list[str]:
        """Node ids of the actors that are up (an actor reports its node once its setup is done)."""
        return [a.node_id for a in self._actors.values() if a.node_id is not None]

    def wait_ready(self, timeout_s: float = 60.0) -> list[str]:
        """Block until every live actor has finished its setup (or ``timeout_s``); node ids."""
        refs = {a.ready_ref: a for a in self._actors.values() if a.ready_ref is not None}
        if refs:
            done, _ = self._ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s)
            for ref in done:
                self._on_ready(refs[ref])
        return self.node_of_actors()

    def imap_unordered(self, items: Iterable[T]) -> Iterator[tuple[T, Any]]:
        """Yield ``(item, result)`` or ``(item, ReelscopeError)`` as items complete. One iteration
        at a time per pool. Leaving the loop early kills the busy actors and drops the items not
        yet yielded; the next iteration starts replacements."""
        source, exhausted = iter(items), False
        self._waiting.clear()
        self._ensure_actors()
        try:
            while True:
                if not self._actors:  # every slot given up: nothing will ever run
                    error = next(iter(self._given_up.values()))
                    yield from ((item, error) for item in self._waiting)
                    yield from ((item, error) for item in source)
                    return
                for actor in list(self._actors.values()):
                    while actor.ready_ref is None and len(actor.calls) < _CALLS_PER_ACTOR:
                        if not self._waiting and not exhausted:
                            try:
                                self._waiting.append(next(source))
                            except StopIteration:
                                exhausted = True
                        if not self._waiting:
                            break
                        self._submit(actor, self._waiting.popleft())
                if exhausted and not self._waiting and not any(a.calls for a in self._actors.values()):
                    return
                self._step()
                out, self._out = self._out, []
                yield from out
        finally:
            for actor in [a for a in self._actors.values() if a.calls]:  # stale calls would delay the next run
                self._kill(actor)
                del self._actors[actor.slot]

    def close(self) -> None:
        """Kill the actors (the cluster itself stays up)."""
        for actor in self._actors.values():
            self._kill(actor)
        self._actors.clear()

    def __enter__(self) -> RayJobPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------
    def _ensure_actors(self) -> None:
        for slot in range(self.placement.actors):
            if slot not in self._actors and slot not in self._given_up:
                handle = self._actor_class.remote(self._functions)
                self._actors[slot] = _Actor(slot, handle, handle.ready.remote(), time.monotonic())

    def _kill(self, actor: _Actor) -> None:
        with contextlib.suppress(Exception):  # already dead is fine
            self._ray.kill(actor.handle, no_restart=True)

    def _submit(self, actor: _Actor, item: Any) -> None:
        if not actor.calls:
            actor.head_started_at = time.monotonic()
        actor.calls.append(_Call(item, actor.handle.run.remote(item)))

    def _retire(self, actor: _Actor, *, give_up_with: ReelscopeError | None = None) -> None:
        """Kill ``actor``, hand its not-yet-started calls back, and refill its slot unless given up."""
        self._kill(actor)
        self._waiting.extendleft(reversed([call.item for call in actor.calls]))
        del self._actors[actor.slot]
        if give_up_with is not None:
            log.warning("Ray job actor %d given up: %s", actor.slot, give_up_with)
            self._given_up[actor.slot] = give_up_with
        self._ensure_actors()

    def _step(self) -> None:
        """Wait for the next head call or ready report (or deadline) and handle what finished."""
        heads = {
            a.ready_ref if a.ready_ref is not None else a.calls[0].ref: a
            for a in self._actors.values()
            if a.ready_ref is not None or a.calls
        }
        if not heads:
            return
        done, rest = self._ray.wait(list(heads), num_returns=1, timeout=self._seconds_to_next_deadline())
        if done and rest:  # take everything else already finished in the same pass
            done += self._ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        for ref in done:
            actor = heads[ref]
            if actor.ready_ref is ref:
                self._on_ready(actor)
            else:
                self._on_result(actor)
        self._enforce_deadlines()

    def _seconds_to_next_deadline(self) -> float | None:
        now, limits = time.monotonic(), []
        for actor in self._actors.values():
            if actor.ready_ref is not None and self.setup_timeout_s is not None:
                limits.append(actor.created_at + self.setup_timeout_s - now)
            elif actor.calls and self.task_timeout_s is not None:
                limits.append(actor.head_started_at + self.task_timeout_s - now)
        return max(0.0, min(limits)) if limits else None

    def _on_ready(self, actor: _Actor) -> None:
        ray = self._ray
        try:
            actor.node_id, actor.pid = ray.get(actor.ready_ref)
        except ray.exceptions.RayTaskError as exc:  # setup raised: it would raise again
            self._retire(actor, give_up_with=_translate(ray, exc, "the job actor's setup"))
            return
        except ray.exceptions.RayError as exc:  # died while starting: maybe the node, maybe setup
            failures = self._start_failures[actor.slot] = self._start_failures.get(actor.slot, 0) + 1
            error = _translate(ray, exc, "the job actor's setup")
            self._retire(actor, give_up_with=error if failures > self.max_restarts else None)
            return
        actor.ready_ref = None
        self._start_failures[actor.slot] = 0

    def _on_result(self, actor: _Actor) -> None:
        ray = self._ray
        call = actor.calls.popleft()
        try:
            self._out.append((call.item, ray.get(call.ref)))
        except ray.exceptions.RayTaskError as exc:  # work raised; the actor is fine
            self._out.append((call.item, _translate(ray, exc, actor.describe(call.item))))
        except ray.exceptions.RayError as exc:  # the actor is gone: only this item was running on it
            self._out.append((call.item, _translate(ray, exc, actor.describe(call.item))))
            self._retire(actor)
            return
        actor.head_started_at = time.monotonic()  # the next call starts now

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for actor in list(self._actors.values()):
            if actor.ready_ref is not None:
                if self.setup_timeout_s is not None and now - actor.created_at > self.setup_timeout_s:
                    p = self.placement
                    error = TaskTimedOut(
                        f"a Ray job actor did not finish its setup within {self.setup_timeout_s:g} s",
                        fix=f"check `ray status` for {p.num_cpus:g} CPUs and {p.num_gpus:g} GPUs free per actor",
                    )
                    self._retire(actor, give_up_with=error)
            elif actor.calls and self.task_timeout_s is not None and now - actor.head_started_at > self.task_timeout_s:
                call = actor.calls.popleft()
                message = f"{actor.describe(call.item)} ran past its {self.task_timeout_s:g} s deadline; actor replaced"
                self._out.append((call.item, TaskTimedOut(message, fix="raise the task timeout")))
                self._retire(actor)
