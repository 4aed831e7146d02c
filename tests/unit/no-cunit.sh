#!/bin/sh
# SPDX-License-Identifier: MIT
# Stands in for the unit tests when configure found no CUnit: one TAP plan, skipped.
echo "1..0 # SKIP CUnit not installed (libcunit1-dev): the unit tests were not built"
