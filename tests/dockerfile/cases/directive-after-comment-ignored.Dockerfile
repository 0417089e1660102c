# a comment
# escape=`
FROM scratch
RUN echo \
  x
