#!/usr/bin/env python3
"""Wrap a text file into a C++ raw string literal (the default scan policy)."""
import sys

text = open(sys.argv[1], encoding="utf-8").read()
assert ')policy"' not in text
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write('R"policy(' + text + ')policy"\n')
