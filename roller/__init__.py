"""The operator's node: keys, staking, the task journal and admission, proving, and the node
(`service.RollerService`) whose services discover coordinators, take tasks, prove them and read
their settlements (docs/roller.md lists the modules)."""
