"""HTTP gateway: authenticated `POST /v1/tasks` onto `tasks.requested`, answered by admission."""
