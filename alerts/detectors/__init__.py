"""One module per detector kind; each implements `Detector`."""
