"""The sandbox's language table (``languages.toml``) and one Dockerfile per language.

A package only so that the table ships inside the wheel and is found with importlib.resources.
"""
