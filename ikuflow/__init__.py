"""ikuflow: the approval engine for Bawaslu IKU documents.

The package's import is kept light on purpose (the CLI's ``--help`` must start fast):
import what you need from its modules, e.g. ``from ikuflow.app.service import Service``.
"""

__version__ = "0.1.0"
