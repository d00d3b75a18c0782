"""Planning and running jobs: planner, Engine, events, and the executors that run analyzer tasks."""
