"""Coordinator node: assigns tasks by the market rules, tracks deadlines, finalizes and settles.

`coordinator.core.CoordinatorCore` is the decision core, a pure state machine (events in,
commands out); the service around it does the I/O. docs/coordinator.md describes both halves'
contract.
"""
