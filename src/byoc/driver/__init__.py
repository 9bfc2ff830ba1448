"""The driver: takes images and data to AWS, and runs the same verbs locally.

It never imports TensorFlow.
"""
