"""What the `train` and `serve` executables call.

`train` turns every failure into /opt/ml/output/failure plus a non-zero exit, as SageMaker expects;
a user error gets its own sentence, anything else a one-line summary and the traceback in the log.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading
import traceback

from byoc import contract, gpu, hyperparams
from byoc.errors import FrameworkError, UserError
from byoc.user_code import script

log = logging.getLogger("byoc")


def _setup_logging() -> None:
    # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) buries the training log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
        force=True,
    )
    # TensorFlow's Python logger reports every collective it builds at INFO: noise in a job log.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)


# A full disk or quota: the errno of a write that did not fit.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# Set by the start-up SIGTERM handler: the job is being stopped.
_STOPPED = threading.Event()


def train() -> int:
    _setup_logging()
    # Until the trainer installs its own handler, SIGTERM ends start-up at once: as PID 1 in a
    # container, Python would otherwise ignore it, and `docker stop` would wait for SIGKILL.
    signal.signal(signal.SIGTERM, _stop_start_up)
    paths = contract.Paths(contract.base_dir())
    try:
        # The config files and hyperparameters are checked before TensorFlow loads (seconds):
        # a typo fails the job at once.
        env = contract.TrainingEnv.read(paths.root)
        # The user's own script (sagemaker_program) runs instead of byoc's trainer, before the
        # hyperparameters are parsed: they are the script's, not byoc's. The exception, a
        # `model` or `loss` given as MODULE:FUNCTION, is in script.wanted.
        if script.wanted(env.hyperparameters):
            return script.main(env)  # no TensorFlow in this process: the script loads its own
        hp = hyperparams.parse(env.hyperparameters)
        # A GPU host with the wrong image or driver says so first, whatever else is wrong with
        # the job: there the GPU check needs TensorFlow, and the data is checked after it. A
        # host with no GPU passes that check without TensorFlow, so a missing or empty channel
        # fails the job in a second instead of after TensorFlow's import.
        if gpu.check_without_tensorflow() is None:  # a GPU host
            from byoc.training import run  # TensorFlow loads here, inside the failure handling

            gpu.check_tensorflow()  # a GPU TensorFlow cannot use fails here, with the way out
        else:
            from byoc.training import splits

            splits.check_channels(env)
            from byoc.training import run
        return run.main(env, hp)
    except UserError as exc:
        log.error("Training failed: %s", exc)
        contract.write_failure(paths, str(exc))
        return 1
    except FrameworkError as exc:
        log.error("Training failed: %s", exc)
        contract.write_failure(paths, str(exc))
        return 2
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            return _unexpected(paths, exc)
        reason = (f"No space left while writing {exc.filename or 'a file'} "
                  f"({exc.strerror}). Free space there or give the job a larger volume "
                  "(VolumeSizeInGB); a checkpoint already written resumes the run.")
        log.error("Training failed: %s", reason)
        contract.write_failure(paths, reason)
        return 1
    except MemoryError:
        reason = "Out of memory. Lower batch_size or image_size, or use a larger instance type."
        log.error("Training failed: %s", reason)
        contract.write_failure(paths, reason)
        return 1
    except Exception as exc:
        if _STOPPED.is_set():
            # A SIGTERM during an import: some C extensions (TensorFlow's among them) turn the
            # handler's SystemExit into an ImportError. The job was stopped; it did not fail.
            log.info("Stopped during start-up (SIGTERM).")
            return contract.EXIT_TERMINATED
        return _unexpected(paths, exc)


def _stop_start_up(*_) -> None:
    _STOPPED.set()
    sys.exit(contract.EXIT_TERMINATED)


def _unexpected(paths: contract.Paths, exc: Exception) -> int:
    log.error("Training failed with an unexpected error:\n%s", traceback.format_exc())
    contract.write_failure(
        paths, f"Unexpected error in the trainer: {type(exc).__name__}: {exc}. "
        "See the training log for the traceback."
    )
    return 2


def serve() -> int:
    _setup_logging()
    gpu.log_host()  # the workers check TensorFlow against it (serving.predictor)
    from byoc.serving import server

    return server.main()


if __name__ == "__main__":
    commands = {"train": train, "serve": serve}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print("usage: python -m byoc.entrypoints train|serve", file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]]())
