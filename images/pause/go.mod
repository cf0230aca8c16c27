module launch-agent.local/images/pause

go 1.24
