"""The ``fastgd`` command (also ``python -m fastgd``).

    fastgd demo    [--out DIR] [--quick]              every experiment, one HTML report
    fastgd train   DATA [--hidden 256,128] ...        train an MLP on your data file
    fastgd predict MODEL DATA [--out preds.csv]       predictions of a saved model
    fastgd bench                                      throughput vs NumPy / torch / sklearn

Exit codes: 0 success, 1 unusable data, an output path that cannot be used, or a failed
run; 2 bad arguments; 130 interrupted. Every error is one line on stderr,
``fastgd <command>: error: ...`` (FASTGD_DEBUG=1 adds the traceback of an unexpected one).
Data formats: see fastgd/cli/datafile.py; output files: fastgd/cli/files.py.
"""
import os
import sys

from fastgd.cli.files import Failure
from fastgd.cli.parser import build_parser

__all__ = ["main", "build_parser"]


def _cmd_demo(args):
    from fastgd.lab.report.demo import run_demo
    run_demo(args.out, quick=args.quick, seed=args.seed, n_threads=args.threads)
    return 0


def _cmd_bench(args):
    from fastgd.cli.bench import run_bench
    run_bench(n_params=args.params, n_samples=args.samples, repeat=args.repeat,
              n_threads=args.threads)
    return 0


def _cmd_train(args):
    from fastgd.cli.train import cmd_train
    return cmd_train(args)


def _cmd_predict(args):
    from fastgd.cli.predict import cmd_predict
    return cmd_predict(args)


_COMMANDS = {"demo": _cmd_demo, "train": _cmd_train, "predict": _cmd_predict,
             "bench": _cmd_bench}


def _tolerant_streams():
    """Tables use a few non-ASCII symbols (β, ², ≤); on a stream that cannot encode them
    (a Windows code page, PYTHONIOENCODING=ascii) print a replacement, not a traceback."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if enc != "utf8" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):   # detached or closed: leave it alone
                pass


def main(argv=None):
    """Run the command line; returns the exit code (0, 1, or 2 for bad arguments)."""
    _tolerant_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:            # --help / --version (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 2
    from fastgd.cli.datafile import DataError
    try:
        return _COMMANDS[args.command](args)
    except (DataError, Failure) as e:
        _error(args.command, e)
        return 1
    except KeyboardInterrupt:
        _error(args.command, "interrupted")
        return 130
    except BrokenPipeError:            # e.g. `fastgd predict ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MemoryError:
        _error(args.command, "out of memory")
        return 1
    except Exception as e:             # a bug or an unforeseen input: still one line
        if os.environ.get("FASTGD_DEBUG"):
            raise
        _error(args.command, f"unexpected {type(e).__name__}: {e} (FASTGD_DEBUG=1 shows "
               "the traceback; please report it)")
        return 1


def _error(command, message):
    text = " ".join(str(message).split())      # one line, whatever the message held
    print(f"fastgd {command}: error: {text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
