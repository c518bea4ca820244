"""The periodic review report: its sections (SQL), building it, and rendering Markdown/HTML with charts."""
