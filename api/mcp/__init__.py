"""The Model Context Protocol server (SPEC §13): the query API's answers as tools and resources
for AI tutoring agents, over stdio (``mastery mcp``) and streamable HTTP (``/mcp``)."""
