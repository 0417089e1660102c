FROM scratch
RUN ["echo", "a b", "\u00e9"]
CMD [ "x" ]
ENTRYPOINT []
