"""What the tests share: the real executables, small data sets, a served model, moto, Docker and
MLflow fixtures. Test modules import helpers from here, never from one another."""
