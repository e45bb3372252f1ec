"""Domain operations shared by the web views, the JSON API and the CLI."""
