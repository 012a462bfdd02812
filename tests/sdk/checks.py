"""What the SDK check scripts share: a failed expectation, and running every check by name."""

import sys
import traceback


class CheckFailed(AssertionError):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def run_checks(checks, sdk_label):
    """Runs every (name, check) pair, printing one line each; returns the exit code (1 if any failed)."""
    failed = []
    for name, run in checks:
        try:
            run()
            print(f"ok   {name}")
        except CheckFailed as e:
            failed.append(name)
            print(f"FAIL {name}: {e}")
        except Exception as e:  # an SDK exception is a failure of the check, with its detail
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=3, file=sys.stdout)
    print(f"{sdk_label}: {len(checks) - len(failed)}/{len(checks)} checks passed")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0
