"""The proof system: circom artifact formats, witness calculation, Groth16.

Imports nothing else of provernet's, so the prover can be used on its own.
"""
