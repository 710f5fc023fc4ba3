"""The `llmobs-run` launcher (run.py) and the folder it puts first on PYTHONPATH, whose
sitecustomize.py enables llmobs in every Python process started under the launcher."""

from pathlib import Path

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "site"
