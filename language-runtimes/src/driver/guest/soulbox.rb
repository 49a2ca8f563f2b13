# SoulBox's door to the host: the tools the host registered.
#
#   SoulBox.call_tool("weather", city: "Paris")   # => the tool's JSON value (Hash, Array, ...)
#   SoulBox.tools.weather(city: "Paris")          # the same
#   SoulBox.list_tools                            # => [{"name", "description", "parameters"}, ...]
#
# A failed call raises SoulBox::ToolError with #kind (unknown_tool, invalid_arguments, handler,
# timeout, limit, payload, protocol, denied, network, unavailable) and the host's message. The
# frames travel through the interpreter's JavaScript bridge (`JS.eval`), which SoulBox's host
# answers: this build has no other way out of WebAssembly.
module SoulBox
  class ToolError < StandardError
    attr_reader :kind

    def initialize(kind, message)
      @kind = kind
      super(message)
    end

    # The uncaught report (full_message) names the kind; #message stays the host's words.
    def detailed_message(highlight: false, **)
      "#{@kind}: #{super}"
    end
  end

  def self.__frame(request)
    require "json"
    require "js"
    reply = JS.eval(JSON.generate(request)).to_s
    answer = JSON.parse(reply)
    return answer["value"] if answer["ok"]
    raise ToolError.new(answer["kind"] || "protocol", answer["error"].to_s)
  end

  def self.call_tool(name, arguments = nil, **kwargs)
    args = {}
    unless arguments.nil?
      raise TypeError, "call_tool arguments must be a Hash" unless arguments.is_a?(Hash)
      arguments.each { |k, v| args[k.to_s] = v }
    end
    kwargs.each { |k, v| args[k.to_s] = v }
    __frame({ "op" => "call", "name" => name.to_s, "arguments" => args })
  end

  def self.list_tools
    __frame({ "op" => "list" })
  end

  module Tools
    def self.method_missing(name, arguments = nil, **kwargs)
      SoulBox.call_tool(name, arguments, **kwargs)
    end

    def self.respond_to_missing?(_name, _include_private = false)
      true
    end
  end

  def self.tools
    Tools
  end
end
