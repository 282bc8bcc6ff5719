"""Crisis response in the service: links and spikes of complaints, commands, the
compensation batch (a Prefect flow), notice channels and the endpoints. The rules are in
`domain/crisis/`.
"""
