"""A model file that fails while Python runs it."""

raise RuntimeError("this file is broken on purpose")
