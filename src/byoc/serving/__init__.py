"""The model server: predictor, codecs, Flask app, gunicorn launcher."""
