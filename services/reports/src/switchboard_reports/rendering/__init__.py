"""Turning a report's rows or summary into a file. Chart and document libraries are imported only
by the formats that need them, so a CSV worker never loads matplotlib."""
