"""The one-command pipeline: cached, resumable stages from table to validated artifact."""
