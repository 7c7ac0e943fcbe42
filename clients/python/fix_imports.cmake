# cmake -DIN_DIR=<protoc's tributary/v1> -DOUT_DIR=<tributary_client/_generated> -DNAMES=a;b -P
# Copies protoc's <name>_pb2.py and <name>_pb2_grpc.py into the package, importing each other
# relatively ("from . import x_pb2") instead of as a top-level `tributary.v1` package, and naming
# their module after where it now lives.
file(MAKE_DIRECTORY ${OUT_DIR})
foreach(name ${NAMES})
  foreach(suffix _pb2 _pb2_grpc)
    file(READ ${IN_DIR}/${name}${suffix}.py text)
    string(REGEX REPLACE "(^|\n)from tributary\\.v1 import " "\\1from . import " text "${text}")
    string(REPLACE "'tributary.v1.${name}_pb2'" "'tributary_client._generated.${name}_pb2'" text
           "${text}")
    if(text MATCHES "tributary\\.v1 import|import tributary")
      message(FATAL_ERROR "${name}${suffix}.py still imports tributary.v1 after the rewrite")
    endif()
    file(WRITE ${OUT_DIR}/${name}${suffix}.py "${text}")
  endforeach()
endforeach()
file(WRITE ${OUT_DIR}/__init__.py
     "# Generated at build time from proto/tributary/v1 (clients/python/CMakeLists.txt).\n")
