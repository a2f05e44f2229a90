"""The GIMP plug-in's logic, free of GIMP: HTTP client, PNG writer, regions, managed server.

Standard library only (GIMP's Python has nothing else); nst_gimp.py is the thin layer that
talks to GIMP. `multipart` is the Krita plugin's module, copied here by install.py.
"""
