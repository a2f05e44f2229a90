"""Dialogs of the plugin (they need a QApplication: Krita's, or an offscreen one in tests)."""
