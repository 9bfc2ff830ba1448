"""Run the user's own training script, as SageMaker's training toolkit runs an entry point.

The rule `train` follows (`wanted`): the hyperparameter `sagemaker_program` (the SDK's
`entry_point`) runs that script instead of byoc's trainer, EXCEPT when the hyperparameter `model`
or `loss` names user code as `MODULE:FUNCTION`. Then the user asked for byoc's trainer with their
own network or objective, byoc's trainer runs, and the source directory only supplies modules.

A run (`main`): make the source directory available (`source.fetch`), check that the entry point
is there before anything is installed, install a package or requirements.txt, then start the entry
point as a child process with the toolkit's `SM_*` environment and `--key value` arguments:

- `*.sh`, or a file that is neither Python nor in a package: a command (`./train.sh ARGS`);
- any entry point beside `setup.py` or `pyproject.toml`: the package is pip-installed and the
  entry point runs as a module (`python -m train ARGS`);
- `*.py`: a script (`python train.py ARGS`).

Its stdout is the job's stdout; its stderr passes through byoc, which keeps the tail for the
failure reason. SIGTERM (StopTrainingJob, a spot interruption) and SIGINT are forwarded to the
script's process group; after `contract.TRAINING_STOP_GRACE` seconds it is killed. The script's
exit code is the job's.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from byoc import contract
from byoc.errors import UserError
from byoc.training import cluster as cluster_lib
from byoc.user_code import environment, modules, source, trainer

log = logging.getLogger("byoc")

SCRIPT, PACKAGE, COMMAND = "python script", "python package", "command"
# The end of the script's stderr kept in memory for the failure reason.
STDERR_TAIL_BYTES = 16 * 1024
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def wanted(hyperparameters: dict[str, str]) -> bool:
    """Whether `train` runs the user's script (see the module's docstring for the rule)."""
    program = source.decoded_str(hyperparameters.get(source.PROGRAM_HP))
    if not program:
        return False
    references = trainer.references(hyperparameters)
    if references:
        named = ", ".join(f"{k}={v}" for k, v in references.items())
        log.info("%s names user code as MODULE:FUNCTION, so byoc's trainer runs; the source "
                 "directory of %s=%s only supplies modules.", named, source.PROGRAM_HP, program)
        return False
    return True


@dataclass(frozen=True)
class EntryPoint:
    """The entry point, where it is on disk, and how it runs."""

    program: str
    directory: Path
    kind: str

    def command(self, args: list[str]) -> list[str]:
        if self.kind == PACKAGE:
            return [sys.executable, "-m", modules.module_name(self.program), *args]
        if self.kind == SCRIPT:
            return [sys.executable, self.program, *args]
        # Through sh, as the toolkit runs a command: a file without a #! line still runs.
        return ["/bin/sh", "-c", "exec " + shlex.join([f"./{self.program}", *args])]


def kind_of(directory: Path, program: str) -> str:
    """The toolkit's entry point type (`_entry_point_type.get`), with pyproject.toml beside
    setup.py as a package."""
    if program.endswith(".sh"):
        return COMMAND
    if source.is_package(directory):
        return PACKAGE
    if program.endswith(".py"):
        return SCRIPT
    return COMMAND


def locate(env: contract.TrainingEnv) -> EntryPoint:
    """Fetch the source directory and find the entry point in it; UserError when it is not
    there, before anything is installed or run."""
    hps = env.hyperparameters
    program = source.decoded_str(hps.get(source.PROGRAM_HP)) or ""
    relative = PurePosixPath(program)
    if not program.strip() or relative.is_absolute() or ".." in relative.parts:
        raise UserError(f"{source.PROGRAM_HP}={program!r} must name a file inside the source "
                        "directory, like 'train.py' (the SDK's entry_point).")
    given = source.decoded_str(hps.get(source.SUBMIT_DIR_HP))
    if not given and not env.paths.code_dir.is_dir():
        raise UserError(f"{source.PROGRAM_HP}={program} is set but there is no source directory: "
                        f"set {source.SUBMIT_DIR_HP} (the SDK's source_dir, as s3://…tar.gz, "
                        f"file:// or a path) or put the code in {env.paths.code_dir}.")
    directory = source.fetch(given or str(env.paths.code_dir), env.paths.code_dir)
    if not (directory / program).is_file():
        present = sorted(p.name for p in directory.iterdir())
        listing = ", ".join(present[:12]) + (", …" if len(present) > 12 else "") or "nothing"
        raise UserError(f"The entry point {program} ({source.PROGRAM_HP}) is not in the source "
                        f"directory {given or directory}, which holds {listing}. Give "
                        "entry_point as a file inside source_dir.")
    return EntryPoint(program, directory, kind_of(directory, program))


def install(entry: EntryPoint) -> None:
    """pip-install the package, or requirements.txt, before the run. Unlike the toolkit, byoc
    installs requirements.txt for a command too: a shell script usually runs Python."""
    if entry.kind == PACKAGE:
        source.install_package(entry.directory)
    else:
        source.install_requirements(entry.directory)
    if entry.kind == COMMAND:
        path = entry.directory / entry.program
        try:
            path.chmod(path.stat().st_mode | 0o111)
        except OSError as exc:  # a read-only mount: fine if it is executable already
            log.warning("Cannot make %s executable (%s)", path, exc)


def main(env: contract.TrainingEnv) -> int:
    """Run the user's entry point for `train`; return the job's exit code."""
    env.log_summary()
    entry = locate(env)
    install(entry)
    num_gpus, num_cpus = environment.measure()
    script_env = environment.ScriptEnvironment(env, num_gpus=num_gpus, num_cpus=num_cpus)
    if len(env.hosts) > 1:
        cluster = cluster_lib.Cluster.from_resource_config(env.resource_config)
        # As the toolkit does: the peers' names appear in DNS over the first minutes of a job.
        cluster_lib.resolve_peers(cluster.peers, cluster_lib.peer_timeout(),
                                  me=cluster.current_host)
    child_env = script_env.child_environ(os.environ, entry.directory)
    command = entry.command(script_env.cmd_args())
    log.info("Running the %s %s in %s: %s", entry.kind, entry.program, entry.directory,
             shlex.join(command))
    outcome = run(command, cwd=entry.directory, env=child_env)
    return finish(env, entry, outcome)


@dataclass(frozen=True)
class Outcome:
    code: int              # the exit code, 128+N for a script killed by signal N
    stderr_tail: str       # the end of what it wrote to stderr
    stopped: bool = False  # SIGTERM (or SIGINT) came from outside and was forwarded
    killed: bool = False   # it outlived the grace period and was killed


class _Stop(Exception):
    """Raised in the main thread by the first forwarded signal, to start the grace period."""


def run(command: list[str], *, cwd: Path, env: dict[str, str],
        grace: float = contract.TRAINING_STOP_GRACE) -> Outcome:
    """Run `command` to its end, forwarding SIGTERM and SIGINT to its process group."""
    sys.stdout.flush()
    sys.stderr.flush()
    # Its own session, so that a signal reaches what the script starts too (a shell script's
    # python, data loader workers) and not byoc.
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    assert process.stderr is not None
    tail = _Tail(process.stderr.fileno())
    pump = threading.Thread(target=tail.pump, name="script-stderr", daemon=True)
    pump.start()
    stopped: list[int] = []
    done = False

    def forward(signum: int, _frame) -> None:
        _signal_group(process.pid, signum)
        if not stopped:
            stopped.append(signum)
            if not done:  # once the script has ended, there is nothing left to wait for
                raise _Stop

    previous = {s: signal.signal(s, forward) for s in FORWARDED_SIGNALS}
    deadline = None
    killed = False
    try:
        while True:
            try:
                remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
                code = process.wait(remaining)
                done = True
                break
            except _Stop:
                log.warning("%s received: passed on to the training script, which has %d s to "
                            "exit.", signal.Signals(stopped[0]).name, grace)
                deadline = time.monotonic() + grace
            except subprocess.TimeoutExpired:
                log.error("The training script did not exit within %d s of %s; killing it.",
                          grace, signal.Signals(stopped[0]).name)
                _signal_group(process.pid, signal.SIGKILL)
                killed = True
        if deadline is not None and not killed:
            killed = not _wait_for_group(process.pid, deadline)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    pump.join(timeout=5)  # a grandchild may hold stderr open; its output is not waited for
    if not pump.is_alive():
        process.stderr.close()
    return Outcome(code=128 - code if code < 0 else code, stderr_tail=tail.text(),
                   stopped=bool(stopped), killed=killed)


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def _wait_for_group(group: int, deadline: float) -> bool:
    """After a stop, wait until the script's whole process group has ended: a shell script may
    end at once while the python it started is still saving, and when `train` exits the
    container ends with everything in it. Reap the orphans handed to this process (it is PID 1
    in a container). False if the deadline passed, and then the rest are killed."""
    while True:
        _reap()
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            log.error("Processes of the training script outlived the stop's grace period; "
                      "killing them.")
            _signal_group(group, signal.SIGKILL)
            return False
        time.sleep(0.05)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class _Tail:
    """Copy a stream to this process's stderr as it comes, keeping its last bytes."""

    def __init__(self, fd: int, keep: int = STDERR_TAIL_BYTES) -> None:
        self.fd = fd
        self.keep = keep
        self.buffer = bytearray()

    def pump(self) -> None:
        out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
        while chunk := os.read(self.fd, 65536):
            if out is not None:
                out.write(chunk)
                out.flush()
            self.buffer += chunk
            del self.buffer[:-self.keep]

    def text(self) -> str:
        return self.buffer.decode("utf-8", "replace")


def finish(env: contract.TrainingEnv, entry: EntryPoint, outcome: Outcome) -> int:
    """Turn the script's end into the job's: the success or failure file, and the exit code."""
    if outcome.stopped:
        # A stop is neither a success nor a failure: SageMaker reports the job as Stopped.
        log.warning("The training script %s ended after the stop signal (exit %d%s).",
                    entry.program, outcome.code, ", killed" if outcome.killed else "")
        return outcome.code or contract.EXIT_TERMINATED
    if outcome.code != 0:
        reason = failure_reason(entry.program, outcome.code, outcome.stderr_tail)
        log.error("Training failed: %s", reason)
        contract.write_failure(env.paths, reason)
        return outcome.code
    model_dir = env.paths.model_dir
    if not (model_dir.is_dir() and any(model_dir.iterdir())):
        if env.current_host == cluster_lib.Cluster.from_resource_config(
                env.resource_config, {}).chief:
            log.warning("The training script saved nothing in %s (SM_MODEL_DIR): the job will "
                        "have no model artifact. Save the model there, e.g. "
                        "model.save(os.path.join(os.environ['SM_MODEL_DIR'], 'model.keras')).",
                        model_dir)
    contract.write_success(env.paths)
    log.info("The training script %s completed.", entry.program)
    return 0


def failure_reason(program: str, code: int, stderr_tail: str,
                   limit: int = contract.FAILURE_REASON_LIMIT) -> str:
    """A failure reason that fits SageMaker's limit and keeps the END of stderr, where the
    exception is."""
    if code > 128 and code - 128 in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT):
        name = signal.Signals(code - 128).name
        head = f"The training script {program} was killed by {name} (exit {code})"
        if code - 128 == signal.SIGKILL:
            head += (": usually the kernel's out-of-memory killer. Use a larger instance type "
                     "or a smaller batch size")
    else:
        head = f"The training script {program} exited with code {code}"
    lines = [line.rstrip() for line in stderr_tail.replace("\r", "\n").splitlines()
             if line.strip()]
    if not lines:
        return f"{head}. It wrote nothing to stderr; see the job's log."
    head += ". The end of its stderr:\n"
    budget = limit - len(head) - 1
    kept: deque[str] = deque()
    for line in reversed(lines):
        if len(line) + 1 > budget:
            if not kept:
                kept.appendleft("…" + line[-(budget - 1):])
            break
        kept.appendleft(line)
        budget -= len(line) + 1
    return head + "\n".join(kept)
