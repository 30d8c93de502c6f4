"""The lake side of datasets: ``dataset push|pull|list|versions|show``, ``gc --remote``
and the remotes themselves (``remote add|list|remove``).

A version document is written last, so a version never points at missing objects and a
killed push leaves no visible version.
"""
