#!/usr/bin/env bash
# Installs the LiteLLM proxy from PyPI into its own venv, bench/.venv-litellm (ignored by git), for
# `bash bench/run.sh --with-litellm` (LiteLLM as a peer on chat and chat-stream).
#   bash bench/litellm.sh [VERSION_SPEC]      # default: litellm[proxy] (latest)
set -euo pipefail
cd "$(dirname "$0")"
spec="${1:-litellm[proxy]}"
[[ -x .venv-litellm/bin/python ]] || python3 -m venv .venv-litellm
.venv-litellm/bin/pip install -q "$spec"
.venv-litellm/bin/litellm --version
