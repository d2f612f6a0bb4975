"""The softmax loss with a group of rows as the lanes of one vector (csrc/fg_mlp_impl.h,
fg_softmax_lanes) gives the row loop's bits: tests/softmax_lanes.c runs fg_output_loss on
whole batches (groups of rows, then the rest one by one) and on one row per call, over
0-41 rows, 1-19 classes, both dtypes, with and without row weights and metric terms, on
logits with ties, huge values, infinities and NaNs. Reversing the lanes' sum order makes
it report ~13,000 mismatches."""
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "csrc")


@pytest.mark.skipif(shutil.which("cc") is None
                    or not os.path.exists(os.path.join(CSRC, "fg_mlp.h")),
                    reason="needs a C compiler and the csrc/ sources")
def test_lanes_give_the_row_loops_bits(tmp_path):
    exe = tmp_path / "softmax_lanes"
    # the build's own flags (setup.py, GCC_FLAGS): the contraction setting decides bits
    subprocess.run(["cc", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math",
                    "-std=c99", "-I", CSRC, os.path.join(HERE, "softmax_lanes.c"),
                    "-o", str(exe), "-lm"], check=True, capture_output=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert "mismatches=0" in out.stdout
