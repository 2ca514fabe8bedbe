"""Board side: the entry point the host runs over SSH (``python -m edgenas.agent``), its content-addressed
file store and its detached, resumable jobs. It sits beside pipeline/, above tasks/, and nothing below imports
it; the host side (edgenas/board/) only names it in the remote command line. Python 3.8, no torch."""
