"""One module per page: each gathers its data once and renders it (``Web.render``)."""
