"""Adds up the results of `make test` (pytest and cargo test) into one closing line.

pytest's `xfailed` on plain moto count as passed: each is a fidelity rule that plain moto fails,
as it must (strict xfail turns an unexpected pass into a failure).
"""

import re
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
passed = failed = ignored = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text):
    passed, failed, ignored = passed + int(m[1]), failed + int(m[2]), ignored + int(m[3])
for line in text.splitlines():
    if re.search(r"\d+ (passed|xfailed|failed|error)", line) and " in " in line and "test result" not in line:
        for count, kind in re.findall(r"(\d+) (passed|xfailed|failed|errors?|xpassed)", line):
            if kind in ("passed", "xfailed"):
                passed += int(count)
            else:
                failed += int(count)
print(f"total: {passed} passed, {failed} failed, {ignored} skipped")
sys.exit(1 if failed else 0)
